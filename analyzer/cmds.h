/* cmds.h - the subcommands of heapsnap, one file each (cmd_*.c). */
#ifndef HSA_CMDS_H
#define HSA_CMDS_H

#include "util.h"

extern const hsa_cmd hsa_cmd_info;
extern const hsa_cmd hsa_cmd_verify;
extern const hsa_cmd hsa_cmd_load;
extern const hsa_cmd hsa_cmd_top;
extern const hsa_cmd hsa_cmd_show;
extern const hsa_cmd hsa_cmd_path;
extern const hsa_cmd hsa_cmd_dominators;
extern const hsa_cmd hsa_cmd_sites;
extern const hsa_cmd hsa_cmd_tasks;
extern const hsa_cmd hsa_cmd_sql;

#endif
