set(SCAMP5_TEST_CASES placeholder)
