#include "a.h"
#include "b.h" /* the deliberate cycle: a and b reach each other */
int a(void) { return 0; }
