#ifndef PGWARD_REPLAY_PROVE_H
#define PGWARD_REPLAY_PROVE_H
int prove_main(int argc, char **argv);
int prove_verify_main(int argc, char **argv);
#endif
