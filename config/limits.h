/* config/limits.h — every resource ceiling of the daemon and its API, with
 * its reason, in one place (the core's own ceilings are in core/limits.h).
 * Settings that operators may tune (upload size, queue depth, connections)
 * have their bounds in config/config.c's table; these are the fixed ones. */
#ifndef QD_LIMITS_H
#define QD_LIMITS_H

/* A JSON job spec is a few hundred bytes; 1 MiB leaves room for long
 * override lists and refuses to buffer anything model-sized. */
#define QD_MAX_JSON_BODY (1u << 20)
/* Overrides and ignore patterns per job (llama-quantize users pass a few). */
#define QD_MAX_OVERRIDES 256
/* One regex pattern (bytes). */
#define QD_MAX_PATTERN_LEN 1024
/* Model names and shard file names in URLs: [A-Za-z0-9._-], not starting
 * with ".", no ".." (api/route.c qd_name_valid). */
#define QD_MAX_NAME_LEN 128
/* Shard files of one sharded model folder. */
#define QD_MAX_SHARDS 4096
/* Job ids: "j" + 16 hex digits. */
#define QD_JOB_ID_LEN 17
/* Longest URL path we route (MHD itself caps the header block). */
#define QD_MAX_PATH_LEN 1024
/* Longest request id kept from X-Request-Id (longer ones are replaced). */
#define QD_MAX_REQUEST_ID 64
/* Jobs kept in memory (queued + running + finished, before retention). */
#define QD_MAX_JOBS 100000
/* Bearer tokens in the token file, and the length of one token. */
#define QD_MAX_TOKENS 64
#define QD_MAX_TOKEN_LEN 512
/* Page size bounds of GET /v1/jobs. */
#define QD_LIST_DEFAULT 50
#define QD_LIST_MAX 1000
/* Memory MHD may use per connection for headers and buffers (bytes).
 * MHD reads a request body into half of it, so it sets the size of the
 * pieces an upload arrives in: 64 KiB gave 32 KiB reads (46k recv calls
 * and access-handler calls per 1.5 GB), 256 KiB gives 128 KiB reads and
 * cuts the loop thread's CPU per upload from 0.87 s to 0.53 s per 1.5 GB;
 * 1 MiB (512 KiB reads, 0.47 s) is not worth it: libmicrohttpd 0.9.75
 * zeroes the whole pool at each request of a keep-alive connection, which
 * at 1 MiB halved the req/s of small GETs. MHD has one value for every
 * connection (it cannot grow the pool of upload connections only), and the
 * zeroing makes every pool resident: max_connections x QD_CONN_MEMORY (64
 * MiB at the default 256 connections). docs/threads.md, docs/benchmarks.md. */
#define QD_CONN_MEMORY (256u << 10)
/* The header block is bounded by these, not by the pool (checked before
 * the body, 400): bytes of the URL and every header line together, and
 * the number of headers. */
#define QD_MAX_HEADER_BYTES (32u << 10)
#define QD_MAX_HEADERS 100
/* The ring between the loop thread and an upload's writer thread (bytes;
 * server/upload.h): 32 of MHD's 128 KiB pieces, so the loop keeps reading
 * while the writer writes and hashes (2 MiB measured slower, with 512 KiB pieces). One per
 * upload in progress, at most max_uploads of them (256 MiB at the default
 * 64; more uploads get 429). */
#define QD_UPLOAD_RING (4u << 20)
/* An upload's writer starts the write-back of every QD_UPLOAD_FLUSH bytes
 * (sync_file_range, no wait), so the disk works while the body streams and
 * the fsync at the end has little left (0.50 -> 0.70 GB/s on disk). */
#define QD_UPLOAD_FLUSH (8u << 20)
/* Nice value of the upload writer threads: like the pool threads, below
 * the loop thread (docs/threads.md). */
#define QD_UPLOAD_NICE 10
/* Retry-After (seconds) of an upload refused because max_uploads are in
 * progress or no writer thread could be started. */
#define QD_UPLOAD_RETRY_AFTER "5"
/* Chunks in flight on the pool, per pool thread: keeps every thread busy
 * while a finished chunk's completion waits for the loop thread. */
#define QD_INFLIGHT_PER_THREAD 2
/* Nice value of the pool threads while they quantize (the loop thread
 * keeps 0): API latency under a full pool (docs/threads.md). */
#define QD_WORKER_NICE 10
/* Largest accepted wait= (seconds), whatever max_wait says. */
#define QD_MAX_WAIT_S 3600
/* Largest pool size libuv accepts (UV_THREADPOOL_SIZE is capped at 1024). */
#define QD_MAX_THREADS 1024
/* Slowest average request body we keep reading (bytes/s), after a grace of
 * connection_timeout: a client trickling its body (slowloris) is cut off,
 * while a real upload over a slow link (>= 8 kbit/s) is not. */
#define QD_MIN_BODY_RATE 1024u

#endif
