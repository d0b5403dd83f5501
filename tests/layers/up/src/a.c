#include "a.h"
#include "b.h" /* the deliberate violation: low calls high */
int a(void) { return b(); }
