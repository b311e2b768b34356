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
/* Memory MHD may use per connection for headers and buffers (bytes):
 * bounds the header block a client can send. */
#define QD_CONN_MEMORY (64u << 10)
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
