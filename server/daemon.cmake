# The daemon: server/ (transport, jobs, spool, logs, metrics), api/ (routes,
# validation, JSON shapes) and config/ (settings), as one static library
# that main.c links. Included from server/CMakeLists.txt.
find_package(OpenSSL REQUIRED)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)

# api/ and config/ have no libmicrohttpd or libuv: unit tests and fuzzers
# link this one alone.
add_library(qd_api STATIC
  ${PROJECT_SOURCE_DIR}/api/problem.c
  ${PROJECT_SOURCE_DIR}/api/route.c
  ${PROJECT_SOURCE_DIR}/api/spec.c
  ${PROJECT_SOURCE_DIR}/api/view.c
  ${PROJECT_SOURCE_DIR}/config/config.c
)
target_link_libraries(qd_api PUBLIC qcore qd_flags PkgConfig::JANSSON PkgConfig::INIH)

add_library(qd_daemon STATIC
  serve.c
  http.c
  handlers.c
  upload.c
  jobs.c
  spool.c
  log.c
  metrics.c
  notify.c
)
target_link_libraries(qd_daemon PUBLIC qd_api qcore qd_flags PkgConfig::MHD PkgConfig::LIBUV
  PkgConfig::JANSSON PkgConfig::INIH OpenSSL::Crypto Threads::Threads)
