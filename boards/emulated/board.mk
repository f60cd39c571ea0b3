BOARD_FLASH := none
