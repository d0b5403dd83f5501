#!/bin/sh
# Grade lab 10 in the tree this script is in (same as `make grade LAB=10`).
cd "$(dirname "$0")/../.." && exec python3 labs/lab.py grade 10 "$@"
