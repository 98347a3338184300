# tools/tools.mk -- the mrlog command-line tool; included from Makefile.am.
