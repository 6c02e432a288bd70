# src/aws: unit tests and the awsctl test tool, built without a server.
AWS_LIB_SRCS = $(wildcard src/aws/*.c)

build/unit/test_sigv4: test/aws/test_sigv4.c $(AWS_LIB_SRCS) src/aws/aws.h src/aws/aws_internal.h
	@mkdir -p $(dir $@)
	$(LIB_CC) $(LIB_CFLAGS) -o $@ test/aws/test_sigv4.c $(AWS_LIB_SRCS) $(LIB_LIBS)

build/aws/awsctl: test/aws/awsctl.c $(AWS_LIB_SRCS) src/aws/aws.h src/aws/aws_internal.h
	@mkdir -p $(dir $@)
	$(LIB_CC) $(LIB_CFLAGS) -o $@ test/aws/awsctl.c $(AWS_LIB_SRCS) $(LIB_LIBS)

UNIT_TESTS += build/unit/test_sigv4

build/unit/test_aws_parse: test/aws/test_aws_parse.c $(AWS_LIB_SRCS) src/aws/aws.h src/aws/aws_internal.h
	@mkdir -p $(dir $@)
	$(LIB_CC) $(LIB_CFLAGS) -o $@ test/aws/test_aws_parse.c $(AWS_LIB_SRCS) $(LIB_LIBS)

UNIT_TESTS += build/unit/test_aws_parse

build/unit/test_aws_unit: test/aws/test_aws_unit.c $(AWS_LIB_SRCS) src/aws/aws.h src/aws/aws_internal.h
	@mkdir -p $(dir $@)
	$(LIB_CC) $(LIB_CFLAGS) -o $@ test/aws/test_aws_unit.c $(AWS_LIB_SRCS) $(LIB_LIBS)

UNIT_TESTS += build/unit/test_aws_unit
