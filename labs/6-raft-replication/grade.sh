#!/bin/sh
# Grade lab 6 in the tree this script is in (same as `make grade LAB=6`).
cd "$(dirname "$0")/../.." && exec python3 labs/lab.py grade 6 "$@"
