#!/bin/sh
# Grade lab 4 in the tree this script is in (same as `make grade LAB=4`).
cd "$(dirname "$0")/../.." && exec python3 labs/lab.py grade 4 "$@"
