/* placeholder */
typedef int qcore_placeholder_dispatch;
