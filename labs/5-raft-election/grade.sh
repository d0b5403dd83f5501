#!/bin/sh
# Grade lab 5 in the tree this script is in (same as `make grade LAB=5`).
cd "$(dirname "$0")/../.." && exec python3 labs/lab.py grade 5 "$@"
