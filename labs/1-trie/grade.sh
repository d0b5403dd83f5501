#!/bin/sh
# Grade lab 1 in the tree this script is in (same as `make grade LAB=1`).
cd "$(dirname "$0")/../.." && exec python3 labs/lab.py grade 1 "$@"
