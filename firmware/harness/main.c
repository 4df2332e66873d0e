/* edgekit device firmware entry point: board bring-up, then serve the wire protocol. */
#include "ek_board.h"
#include "ek_harness.h"

int main(void)
{
    ek_board_init();
    ek_harness_main();
    return 0;
}
