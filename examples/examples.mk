# examples/examples.mk -- examples built and tested by `make check`;
# included from Makefile.am.
