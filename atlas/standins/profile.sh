# login shells (agents' commands run with bash -l) start in the testbed env, as in SWE-bench images
. /opt/miniconda3/bin/activate && conda activate testbed
