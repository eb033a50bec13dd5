/* A small C library for the lab's text-relocation experiment, built twice by the Makefile:
 *   -fPIC                                    the two functions load the addresses of the
 *                                            (default-visibility, so preemptible) data
 *                                            from the GOT: no text relocations, every
 *                                            text page can be shared;
 *   -fno-pic -mcmodel=large -shared          the code holds 64-bit absolute addresses of
 *                                            the data (movabs), so the loader must patch
 *                                            the code itself (R_X86_64_64 relocations in
 *                                            .text, DT_TEXTREL) and every patched page
 *                                            becomes a private copy.
 * Three pages of filler code with no references at all come before the two functions and
 * three after them, so the experiment can show exactly which text page the loader patched.
 * Both builds use -fno-toplevel-reorder: without it gcc emits every top-level asm statement
 * before the functions ("-fno-toplevel-reorder: Do not reorder top-level functions,
 * variables, and asm statements. Output them in the same order that they appear in the
 * input file", GCC manual, Optimize Options), and both fillers would end up before them.
 * tests/book_facts.rs checks the layout the book describes.
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
