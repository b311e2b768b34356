/* placeholder */
typedef int qcore_placeholder_io;
