using System.Globalization;

namespace ImprovedDdpm;

/// <summary>
/// The rows of a run's <c>progress.csv</c> (written by <see cref="CsvProgressLog"/>), read back for plots: each row's
/// step and its numeric columns by name; an empty cell (a quartile no example fell into) is absent.
/// </summary>
public sealed record ProgressCsv(IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyDictionary<string, double>> Rows)
{
    /// <exception cref="InvalidDataException">A row has another number of cells than the header, or a cell is not a number; the message names the line.</exception>
    public static ProgressCsv Read(string path)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0) return new ProgressCsv([], []);
        var columns = lines[0].Split(',');
        var rows = new List<IReadOnlyDictionary<string, double>>();
        for (var i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var cells = lines[i].Split(',');
            if (cells.Length != columns.Length)
                throw new InvalidDataException($"{path} line {i + 1} has {cells.Length} cells; the header has {columns.Length}");
            var row = new Dictionary<string, double>();
            for (var c = 0; c < cells.Length; c++)
            {
                if (cells[c].Length == 0) continue;
                row[columns[c]] = double.TryParse(cells[c], NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
                    ? value
                    : throw new InvalidDataException($"{path} line {i + 1}: {columns[c]} = \"{cells[c]}\" is not a number");
            }
            rows.Add(row);
        }
        return new ProgressCsv(columns, rows);
    }

    /// <summary>(step, value) of every row that has <paramref name="column"/>.</summary>
    public (double[] Steps, double[] Values) Series(string column)
    {
        var rows = Rows.Where(r => r.ContainsKey(column) && r.ContainsKey("step")).ToList();
        return ([.. rows.Select(r => r["step"])], [.. rows.Select(r => r[column])]);
    }
}
