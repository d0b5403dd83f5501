#!/bin/sh
# Grade lab 8 in the tree this script is in (same as `make grade LAB=8`).
cd "$(dirname "$0")/../.." && exec python3 labs/lab.py grade 8 "$@"
