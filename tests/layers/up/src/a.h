/* fixture: the low layer */
int a(void);
