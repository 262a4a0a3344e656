/* spin: a command that never returns, to test timeouts (epoch or fuel
 * interruption) on WASI commands. The counter is volatile so that the loop
 * cannot be optimized away. */
int main(void) {
    volatile unsigned long counter = 0;
    for (;;)
        counter++;
}
