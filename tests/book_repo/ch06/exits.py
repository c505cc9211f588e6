# coding: utf-8
# A script that exits with a status of its own.
import sys

print("exiting with 3")
sys.exit(3)
