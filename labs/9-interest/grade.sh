#!/bin/sh
# Grade lab 9 in the tree this script is in (same as `make grade LAB=9`).
cd "$(dirname "$0")/../.." && exec python3 labs/lab.py grade 9 "$@"
