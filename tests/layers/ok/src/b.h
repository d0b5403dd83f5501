/* fixture: the high layer */
int b(void);
