#include "replay/prove.h"
int prove_main(int argc, char **argv) { (void)argc; (void)argv; return 100; }
int prove_verify_main(int argc, char **argv) { (void)argc; (void)argv; return 100; }
