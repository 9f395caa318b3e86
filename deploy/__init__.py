"""``python build.py deploy``: package, deploy the stack, upload changed files, invalidate.

The entry point is ``deploy.cli.main``; each step lives in its own module so tests can
drive it against moto without the others.
"""
