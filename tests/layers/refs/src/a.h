/* a.h — a fixture for tests/test_layers.sh: its header comment names src/gone.c and
 * server_gone(), neither of which exists. */
int a(void);
