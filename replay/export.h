#ifndef PGWARD_REPLAY_EXPORT_H
#define PGWARD_REPLAY_EXPORT_H
int export_main(int argc, char **argv);
#endif
