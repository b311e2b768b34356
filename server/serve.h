/* server/serve.h — the daemon's entry points. Same conventions as cli.h. */
#ifndef QD_SERVE_H
#define QD_SERVE_H

/* quantd serve [options]: run the HTTP daemon until SIGTERM/SIGINT. */
int qd_serve_main(int argc, char **argv);

/* quantd health [--url URL]: GET /livez of a running daemon; 0 if 200. */
int qd_health_main(int argc, char **argv);

#endif
