# master/local.mk
