/*
 * layer_check.c - the empty program CMake links with the whole of one layer
 * of src/ (layer_check_<layer>): it links only when nothing in that layer
 * calls a layer above it. Never run.
 */
int main(void)
{
    return 0;
}
