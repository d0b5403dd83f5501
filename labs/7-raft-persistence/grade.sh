#!/bin/sh
# Grade lab 7 in the tree this script is in (same as `make grade LAB=7`).
cd "$(dirname "$0")/../.." && exec python3 labs/lab.py grade 7 "$@"
