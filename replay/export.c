#include "replay/export.h"
int export_main(int argc, char **argv) { (void)argc; (void)argv; return 100; }
