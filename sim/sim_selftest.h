/* sim_selftest.h — `minijet-sim selftest [--tap]`: the simulator's own unit tests. */
#ifndef MINIJET_SIM_SELFTEST_H
#define MINIJET_SIM_SELFTEST_H

int sim_selftest(int argc, char **argv);

#endif
