/* A small C library for the lab's text-relocation experiment, built twice by the Makefile:
 *   -fPIC                                    code reaches data through the GOT: no text
 *                                            relocations, every text page can be shared;
 *   -fno-pic -mcmodel=large -shared          code holds absolute addresses of data, so the
 *                                            loader must patch the code itself (DT_TEXTREL)
 *                                            and every patched page becomes a private copy.
 * Pages of filler code with no references at all surround the functions that use data, so
 * the experiment can show exactly which text pages the loader patched.
 */
#include <stdint.h>

int64_t textrel_counter = 1;
int64_t textrel_table[4] = {1, 2, 3, 4};

/* Three pages of code that refers to nothing (int3 filler). */
__asm__(".text\n.p2align 12\ntextrel_filler_before:\n.fill 12288, 1, 0xcc\n");

int64_t textrel_bump(void) {
    return ++textrel_counter;
}

int64_t textrel_sum(void) {
    return textrel_table[0] + textrel_table[1] + textrel_table[2] + textrel_table[3];
}

/* Three more pages of filler after them. */
__asm__(".text\n.p2align 12\ntextrel_filler_after:\n.fill 12288, 1, 0xcc\n");
