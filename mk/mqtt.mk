# SPDX-License-Identifier: MIT
#
# The MQTT transport's test tools: mqtt-pub (publishes through mqtt.c from
# an epoll loop like iotsecd's) and sas_auth.so (a mosquitto plugin that
# checks IoT Hub SAS tokens and records what each client sent in CONNECT).
MQTT_TOOLS := $(BUILD)/tools/mqtt-pub $(BUILD)/tools/sas_auth.so \
	$(BUILD)/tools/twin-client

.PHONY: mqtt-tools
mqtt-tools: $(MQTT_TOOLS)
tests: mqtt-tools

$(BUILD)/tools/mqtt-pub: tests/mqtt/mqtt-pub.c $(HOST_TEST_CORE)
	$(quiet) CC-TOOL $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(HOST_TEST_FLAGS) -o $@ $< \
		$(HOST_TEST_CORE) $(PKG_LIBS)

$(BUILD)/tools/twin-client: tests/mqtt/twin-client.c $(HOST_TEST_CORE)
	$(quiet) CC-TOOL $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(HOST_TEST_FLAGS) -o $@ $< \
		$(HOST_TEST_CORE) $(PKG_LIBS)

$(BUILD)/tools/sas_auth.so: tests/mqtt/sas_auth.c
	$(quiet) CC-PLUG $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -shared -o $@ $< -lcrypto

# libFuzzer (clang): connection strings and the SAS token built from them.
.PHONY: fuzz-mqtt
fuzz-mqtt: $(BUILD)/fuzz/connstr

# What the fuzz target reaches: no connection, so not mqtt.c or tls.c.
CONNSTR_FUZZ_SRCS := $(addprefix forwarder/transport/,connstr.c sas.c \
	names.c mqtt_config.c) forwarder/common/buf.c

$(BUILD)/fuzz/connstr: tests/fuzz/connstr.c $(CONNSTR_FUZZ_SRCS)
	$(quiet) FUZZ $@
	@mkdir -p $(dir $@)
	$(Q)clang $(filter-out -MMD -MP,$(BASE_CFLAGS)) -Wno-format-nonliteral -g -O1 \
		-fsanitize=fuzzer,address,undefined -o $@ $< \
		$(CONNSTR_FUZZ_SRCS) $(PKG_LIBS)
