#include "b.h"
#include "a.h"
int b(void) { return a(); }
