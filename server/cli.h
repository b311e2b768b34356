/* server/cli.h — the offline subcommands: quantize, inspect, version.
 * Each takes (argc, argv) with argv[0] the subcommand name and returns the
 * process exit status: 0 ok, 1 failure, 2 bad usage or bad input file. */
#ifndef QD_CLI_H
#define QD_CLI_H

int qd_cli_quantize(int argc, char **argv);
int qd_cli_inspect(int argc, char **argv);
int qd_cli_version(int argc, char **argv);

#endif
