# The libFuzzer build, run by tests/fuzz/run.sh as
#   $(MAKE) -f $(srcdir)/tests/fuzz/fuzz.mk srcdir=... builddir=... \
#           CC=clang DEP_CFLAGS=... DEP_LIBS=...
# It is GNU make, outside automake, and writes only under
# $(builddir)/tests/fuzz/build, so clang's objects never meet gcc's.

FUZZ_OUT ?= $(builddir)/tests/fuzz/build
TARGETS = manifest conf dommeta oci

# What the targets need of libvmirs.
SOURCES = err util base64 diag log quantity kvalid selector conf yamlnode yamlnode_scalar yamlnode_schema yamlnode_json yamlnode_stream model \
	vmi_parse vmi_parse_domain vmi_parse_network vmi_parse_volume vmi_parse_probe vmi_parse_check \
	vmirs_parse kobj_parse manifest validate dommeta \
	image image_ref image_json image_blob image_oci image_archive image_view image_cache

# EXTRA_CFLAGS: e.g. -DFUZZ_SKIP_EMPTY_FILES for a local fuzz_manifest run.
SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -std=gnu11 -Wall -Wno-unused-function \
	-I$(builddir) -I$(srcdir)/src $(DEP_CFLAGS) $(SAN) \
	-DSYSCONFDIR='"/etc"' -DLOCALSTATEDIR='"/var"' $(EXTRA_CFLAGS)

OBJS = $(SOURCES:%=$(FUZZ_OUT)/obj/%.o)
BINS = $(TARGETS:%=$(FUZZ_OUT)/fuzz_%)

all: $(BINS)

# Everything is rebuilt when the compiler or a flag changes.
FLAGS_NOW = $(CC) $(FUZZ_CFLAGS) $(DEP_LIBS)
FLAGS_OLD = $(shell cat $(FUZZ_OUT)/flags 2>/dev/null)
ifneq ($(strip $(FLAGS_NOW)),$(strip $(FLAGS_OLD)))
$(shell mkdir -p $(FUZZ_OUT) && echo '$(subst ','\'',$(FLAGS_NOW))' >$(FUZZ_OUT)/flags)
endif

# Library code gets coverage feedback without libFuzzer's main().
$(FUZZ_OUT)/obj/%.o: $(srcdir)/src/%.c $(FUZZ_OUT)/flags
	@mkdir -p $(@D)
	@echo "  CLANG    $<"
	@$(CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_OUT)/libvmirs-fuzz.a: $(OBJS)
	@rm -f $@
	@ar rcs $@ $(OBJS)

$(FUZZ_OUT)/obj/fuzz_%.o: $(srcdir)/tests/fuzz/fuzz_%.c $(FUZZ_OUT)/flags
	@mkdir -p $(@D)
	@echo "  CLANG    $<"
	@$(CC) $(FUZZ_CFLAGS) -Wextra -Werror -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_OUT)/fuzz_%: $(FUZZ_OUT)/obj/fuzz_%.o $(FUZZ_OUT)/libvmirs-fuzz.a
	@echo "  LINK     $@"
	@$(CC) $(SAN) -fsanitize=fuzzer -Wl,--as-needed -o $@ $^ $(DEP_LIBS)

-include $(OBJS:.o=.d) $(TARGETS:%=$(FUZZ_OUT)/obj/fuzz_%.d)

.PHONY: all
# Keep the targets' objects, which make would take for intermediates.
.SECONDARY:
