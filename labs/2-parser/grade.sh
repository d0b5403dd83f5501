#!/bin/sh
# Grade lab 2 in the tree this script is in (same as `make grade LAB=2`).
cd "$(dirname "$0")/../.." && exec python3 labs/lab.py grade 2 "$@"
