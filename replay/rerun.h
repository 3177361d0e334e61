#ifndef PGWARD_REPLAY_RERUN_H
#define PGWARD_REPLAY_RERUN_H
int rerun_main(int argc, char **argv);
#endif
