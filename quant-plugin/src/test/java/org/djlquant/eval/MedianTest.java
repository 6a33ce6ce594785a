package org.djlquant.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class MedianTest {

    @Test
    void oddCountGivesTheMiddleOfTheSortedValues() {
        // sorted: 1, 3, 4, 5, 9 -> 4
        assertEquals(4.0, Median.of(5, 1, 3, 9, 4));
        assertEquals(7.25, Median.of(7.25));
        // sorted: -2, -1, 0.5 -> -1
        assertEquals(-1.0, Median.of(0.5, -2, -1));
    }

    @Test
    void evenCountGivesTheMeanOfTheTwoMiddleValues() {
        // sorted: 1, 3, 5, 9 -> (3 + 5) / 2
        assertEquals(4.0, Median.of(9, 1, 5, 3));
        // sorted: 2, 3 -> 2.5
        assertEquals(2.5, Median.of(3, 2));
        // sorted: 10, 10, 20, 40 -> 15
        assertEquals(15.0, Median.of(List.of(40.0, 10.0, 20.0, 10.0)));
    }

    @Test
    void unsortedInputIsLeftUnmodified() {
        double[] v = {9, 1, 5, 3, 7};
        double[] before = v.clone();
        assertEquals(5.0, Median.of(v));
        assertArrayEquals(before, v);
        List<Double> list = new ArrayList<>(List.of(3.0, 1.0, 2.0));
        assertEquals(2.0, Median.of(list));
        assertEquals(List.of(3.0, 1.0, 2.0), list);
    }

    @Test
    void integerCollectionsAreAccepted() {
        // sorted: 1, 2, 4, 8 -> 3
        assertEquals(3.0, Median.of(Arrays.asList(8, 1, 4, 2)));
    }

    @Test
    void emptyNullOrNanInputIsRefusedNamingTheProblem() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> Median.of(new double[0]));
        assertTrue(e.getMessage().contains("values was empty"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Median.of(List.<Double>of()));
        assertTrue(e.getMessage().contains("values was empty"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Median.of((double[]) null));
        assertTrue(e.getMessage().contains("values was null"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Median.of(1, Double.NaN, 2));
        assertTrue(e.getMessage().contains("values[1] was NaN"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> Median.of(Arrays.asList(1.0, 2.0, null)));
        assertTrue(e.getMessage().contains("values[2] was null"), e.getMessage());
    }
}
