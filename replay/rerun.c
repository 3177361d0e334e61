#include "replay/rerun.h"
int rerun_main(int argc, char **argv) { (void)argc; (void)argv; return 100; }
