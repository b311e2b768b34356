/* tests/fuzz/fuzz_gguf.c — arbitrary bytes as a gguf upload.
 *
 * qcore_model_open must reject or accept every input without a crash, leak
 * or out-of-bounds read (ASan+UBSan), with one of its documented codes and a
 * one-line message; an accepted model must keep model.h's promises and go
 * through planning and (when small) a real quantization job.
 */
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_model_one(data, size, true);
    return 0;
}
