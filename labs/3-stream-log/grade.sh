#!/bin/sh
# Grade lab 3 in the tree this script is in (same as `make grade LAB=3`).
cd "$(dirname "$0")/../.." && exec python3 labs/lab.py grade 3 "$@"
