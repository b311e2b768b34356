/* placeholder */
typedef int qcore_placeholder_ref;
