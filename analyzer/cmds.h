/* cmds.h - the subcommands of heapsnap, one file each (cmd_*.c). */
#ifndef HSA_CMDS_H
#define HSA_CMDS_H

#include "util.h"

extern const hsa_cmd hsa_cmd_info;
extern const hsa_cmd hsa_cmd_verify;

#endif
