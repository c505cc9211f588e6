# coding: utf-8
# A script with an error, for the runner's traceback.


def divide(a, b):
    return a / b


print("before the error")
divide(1, 0)
